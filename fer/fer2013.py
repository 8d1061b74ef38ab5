"""FER2013, described once: its emotion classes in canonical order, its usages, its faces' size
and channels, and its pixel statistics.

Every dataset file carries the same facts for its own faces (`fer.data.hdf5.DatasetMeta`, these
values for FER2013), every checkpoint carries its model's (`fer.checkpoint.ModelInfo`), and
models and inference read them from there; the values here are FER2013's, used where a file or
checkpoint is older than a fact. How a detected face is framed as FER2013's are is
`fer.framing.FER2013`.
"""

# The order of fer2013.csv's integer labels; every file and model in fer uses it.
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# The original challenge's three usages: train, select (validation), report (test).
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
IMAGE_SIZE = 48  # 48x48 pixels
CHANNELS = 1  # grey
# Mean and std of the Training pixels scaled to [0, 1]: the standardisation of every face.
MEAN = 0.5136
STD = 0.3067
