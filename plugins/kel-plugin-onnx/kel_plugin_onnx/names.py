"""The graph's input and output tensor names (the state tensors are named per recurrent layer)."""
INPUT, OUTPUT = "input", "output"
