"""Migration steps as package files: `manifest.toml` lists them in order, `<id>.sql` holds each."""
