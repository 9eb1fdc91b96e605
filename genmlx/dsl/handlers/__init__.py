"""One handler per GFI operation."""
