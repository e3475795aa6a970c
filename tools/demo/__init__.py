"""The main job on the embedded default data, end to end, on the CPU.

Run from the repository root: ``python -m tools.demo`` (``make demo``).

1. writes a synthetic shape-classification set (ImageNet layout) and a shape-
   segmentation set (ADE20K layout) under ``--data-root``;
2. pretrains the demo ViT twice through ``tools/train.py`` -- regularizers off
   (``configs/demo/vit_tiny_shapes.py``) and on (``..._diverse.py``) -- and
   evaluates top-1 with ``tools/test.py``;
3. transfers each checkpoint into UperNet (``configs/demo/upernet_vit_tiny_shapes.py``),
   fine-tunes it and evaluates mIoU with mmseg's test loop;
4. measures the three redundancy levels of both backbones
   (:func:`mmdiverse.analysis.redundancy_report`): patch similarity, attention-head
   similarity, q/k/v condition numbers;
5. the per-term ablation (:mod:`tools.demo.ablation`): the same ViT and data
   trained with each diversity term alone, each term's effect on its own measure;
6. the self-supervised track (:mod:`tools.demo.selfsup`): a tiny MAE with and without
   the terms, transferred to UperNet (not with ``--ablation``).

Modules: :mod:`~tools.demo.pipeline` (data and the pretrain / transfer steps),
:mod:`~tools.demo.ablation`, :mod:`~tools.demo.progress` (each step as a
subprocess with a live progress line), :mod:`~tools.demo.summary` (the
``summary.md`` tables) and ``__main__`` (the command line).
"""
