"""Writing a fairseq speech_to_text ``config.yaml`` for our manifests.

With it, fairseq's own ``speech_to_text`` task (and its s2t models, for comparison)
trains on exactly the manifests, features and vocabulary that Mu2SLAM uses.
"""

from pathlib import Path
from typing import Optional

import yaml

from ...atomic import write_text


def write_s2t_config(
    path: Path,
    dict_txt: Path,
    spm_model: Path,
    audio_root: Path,
    cmvn_npz: Optional[Path] = None,
    specaugment: bool = False,
) -> Path:
    """fairseq reads ``vocab_filename`` relative to the data folder and ``audio_root`` as given."""
    path = Path(path)
    cfg = {
        "vocab_filename": str(Path(dict_txt).resolve().relative_to(path.parent.resolve()))
        if Path(dict_txt).resolve().is_relative_to(path.parent.resolve())
        else str(Path(dict_txt).resolve()),
        "bpe_tokenizer": {
            "bpe": "sentencepiece",
            "sentencepiece_model": str(Path(spm_model).resolve()),
        },
        "input_channels": 1,
        "input_feat_per_channel": 80,
        "audio_root": str(Path(audio_root).resolve()),
    }
    eval_tf = []
    if cmvn_npz is not None:
        cfg["global_cmvn"] = {"stats_npz_path": str(Path(cmvn_npz).resolve())}
        eval_tf.append("global_cmvn")
    train_tf = list(eval_tf)
    if specaugment:
        cfg["specaugment"] = {
            "freq_mask_F": 27,
            "freq_mask_N": 1,
            "time_mask_N": 1,
            "time_mask_T": 100,
            "time_mask_p": 1.0,
            "time_wrap_W": 0,
        }
        train_tf.append("specaugment")
    cfg["transforms"] = {"_train": train_tf, "*": eval_tf}
    write_text(path, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return path
