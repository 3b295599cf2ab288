"""Model wrappers and nn.Modules. Heavy libraries are imported inside functions."""
