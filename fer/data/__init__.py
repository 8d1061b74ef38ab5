"""FER2013 data: sources to HDF5 (`prepare`), the DataModule and augmentation."""
