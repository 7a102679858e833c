"""The sizes every data reader checks against, in a module of their own so that the container
(`dataset`) and each file format (`npz`, `pz`, `folder`, `synthetic`) share one definition
without importing each other."""

IMAGE_SIZE = 32
#: Most images robusteye reads into one data set (4 GB of 32 x 32 float32 crops): a synthetic
#: `n`, the crops of an .npz or data.pz and the files of an image folder are checked against it
#: before anything that large is allocated. The study has 5,722.
MAX_IMAGES = 1_000_000
#: Longest class name, person id or source name the .npz and data.pz loaders accept.
MAX_NAME_CHARS = 1024
