"""Self-supervised pretraining (SimCLR) of any fer backbone on unlabelled FER2013 faces."""
