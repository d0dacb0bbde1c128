"""imgpipe_core: the domain package shipped to every Lambda function (core layer)."""
