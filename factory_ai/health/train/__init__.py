"""The torch side of the health family: fitting the normal-behaviour models and exporting them."""
