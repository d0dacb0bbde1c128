import imgpipe_missing_dependency  # noqa: F401


def handler(event, context):
    return "unreachable"
