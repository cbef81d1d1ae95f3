"""What each zdd command does, between the command line's parsing and its printing."""
