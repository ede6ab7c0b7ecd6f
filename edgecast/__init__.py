"""edgecast: on-device 24-hour temperature forecasts for rooftop weather-sensor boxes.

The package is the device side: it never imports TensorFlow. Training and export live
in the sibling ``training`` package of the source checkout (not in the wheel a box
installs) and are imported lazily by the CLI.
"""

__version__ = "0.1.0"
