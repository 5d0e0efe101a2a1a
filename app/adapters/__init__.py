"""What speaks to the outside or keeps a read model: payment channels, discovery."""
