"""Front end, above `ir`: the tracer, the rc.* functions, `rc.rnn` and model-file loading."""
