"""mu2slam-fairseq: Mu2SLAM speech-and-text pre-training as a fairseq plugin."""

from setuptools import find_packages, setup

# The verified stack: fairseq-fixed is fairseq 0.12 patched for Python 3.11; torchaudio
# must match torch exactly.
REQUIREMENTS = [
    "fairseq-fixed==0.12.3.1",
    "torch==2.11.0",
    "torchaudio==2.11.0",
    "sentencepiece==0.2.3",
    "sacrebleu==2.6.0",
    "jiwer==4.0.0",
    "editdistance==0.8.1",
    "soundfile==0.14.0",
    "numpy>=1.24,<3",
    "PyYAML>=6",
    "tqdm>=4.60",
    "matplotlib>=3.7",
    "tensorboardX>=2.6",
    "pyarrow>=14",
]

setup(
    name="mu2slam-fairseq",
    version="0.1.0",
    description="Mu2SLAM: multitask, multilingual speech and language pre-training for fairseq",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["mu2slam_fairseq", "mu2slam_fairseq.*"])
    + ["mu2slam_manifests"],
    package_dir={"mu2slam_manifests": "manifests"},
    install_requires=REQUIREMENTS,
    extras_require={"test": ["pytest>=7", "ruff>=0.4"]},
    entry_points={
        "console_scripts": [
            "mu2slam-validate=mu2slam_fairseq.data.io.validate:main",
            "mu2slam-build-vocab=mu2slam_fairseq.data.io.vocab:main",
            "mu2slam-cmvn=mu2slam_fairseq.data.io.cmvn:main",
            "mu2slam-binarize=mu2slam_fairseq.data.pipeline.binarize:main",
            "mu2slam-speech-tokenizer=mu2slam_fairseq.speech_tokenizer.cli:main",
            "mu2slam-prep-default-corpus=mu2slam_manifests.default_corpus:main",
            "mu2slam-prep-covost=mu2slam_manifests.covost:main",
            "mu2slam-prep-common-voice=mu2slam_manifests.common_voice:main",
            "mu2slam-prep-voxpopuli=mu2slam_manifests.voxpopuli:main",
            "mu2slam-prep-fleurs=mu2slam_manifests.fleurs:main",
            "mu2slam-prep-mls=mu2slam_manifests.mls:main",
            "mu2slam-prep-mc4=mu2slam_manifests.mc4:main",
            "mu2slam-prep-parallel=mu2slam_manifests.parallel:main",
            "mu2slam-prep-folder=mu2slam_manifests.folder:main",
            "mu2slam-prep-lhotse=mu2slam_manifests.lhotse_prep:main",
            "mu2slam-export-lhotse=mu2slam_manifests.lhotse_export:main",
            "mu2slam-prep-hf=mu2slam_manifests.hf:main",
            "mu2slam-prep-xnli=mu2slam_manifests.xnli:main",
            "mu2slam-prep-tydiqa=mu2slam_manifests.tydiqa:main",
            "mu2slam-finetune-configs=mu2slam_manifests.finetune_configs:main",
            "mu2slam-prep-synthetic-check=mu2slam_manifests.synthetic_check:main",
            "mu2slam-score=mu2slam_fairseq.scoring.cli:main",
            "mu2slam-train-curves=mu2slam_fairseq.train_log:main",
        ]
    },
    license="MIT",
)
