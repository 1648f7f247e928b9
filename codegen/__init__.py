"""Loop IR and native backends of graphjit."""
