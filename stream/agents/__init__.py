"""The Faust agents of the stream worker."""
