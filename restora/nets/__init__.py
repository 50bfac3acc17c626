"""Pure ``nn.Module`` networks: hyper-parameters in ``__init__`` only, no files, no weights."""
