"""Front end: the tracer, the rc.* functions, and loading model files."""
