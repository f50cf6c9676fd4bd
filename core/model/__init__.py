"""The root model: data sets, ResNet-18 with early exits, training and accuracy."""
