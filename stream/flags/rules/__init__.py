"""Flag rules as pure functions over a key's readings in event-time order.

Each rule kind keeps a small JSON-able state per (subject, device, metric) so a worker can
resume where it stopped (the state lives in a Faust table with a changelog) and folds new
readings into it, returning the episodes it found. Same input, same output: re-processing
the same readings yields the same episodes, which the flag store merges.
"""
