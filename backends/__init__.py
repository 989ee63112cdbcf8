"""HAL implementations (backends), chosen by name through :mod:`backends.registry`."""
