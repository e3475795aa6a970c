"""Convert checkpoints to the key layout our configs load, or export a backbone.

Formats: swin-official (Microsoft Swin), timm-swin, timm-vit (ViT and DeiT),
mmpretrain (mmpretrain/mmcls model zoo and this project's checkpoints), and
mmseg0-swin (mmseg 0.x EncoderDecoder with a Microsoft-Swin backbone: the
Patch-Diversification fork's UperNet releases). The source format is detected
from the keys unless --src is given; the output is the layout our configs
load (mmpretrain for classifiers, mmseg for segmentors) unless --dst is given.
The report lists what was mapped, added, dropped and what could not be mapped
(exit status 1 when something could not be mapped, unless --allow-unmapped,
or when --check-config finds a key or shape that does not fit the model).

Examples::

    # Microsoft's Swin-L 22K weights for configs/pretrain/swin_l_*.py (also the
    # fork's Swin-L ImageNet release, a Microsoft-Swin file)
    python tools/convert_checkpoint.py swin_large_patch4_window12_384_22k.pth \\
        checkpoints/swin_large_patch4_window12_384_22k_mmpretrain.pth
    # the fork's UperNet ADE20K release, evaluated with mmseg's test loop
    python tools/convert_checkpoint.py upernet_swin_large_ade20k.pth \\
        checkpoints/upernet_swin_l_ade20k_fork.pth --check-config \\
        configs/seg/upernet_swin_l_ade20k.py
    python tools/test.py configs/seg/upernet_swin_l_ade20k.py \\
        checkpoints/upernet_swin_l_ade20k_fork.pth
    # timm ViT-L/16 21K weights (a saved state_dict or a .safetensors file)
    python tools/convert_checkpoint.py vit_large_patch16_224_in21k.safetensors \\
        checkpoints/vit_large_patch16_224_in21k_mmpretrain.pth --check-config \\
        configs/pretrain/vit_l24_diverse.py
    # transfer file of a finished run: backbone.* + head.* with metadata
    python tools/convert_checkpoint.py --export work_dirs/swin_l_diverse/epoch_30.pth \\
        checkpoints/swin_l_diverse_in1k.pth
    # back to timm
    python tools/convert_checkpoint.py CKPT out.pth --dst timm-swin
"""

import argparse
import json
import sys

from mmdiverse.checkpoint import convert_checkpoint, export_backbone
from mmdiverse.checkpoint.convert import ALIASES, FORMATS, PIVOTS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n\n'.join(__doc__.split('\n\n')[1:]),
    )
    parser.add_argument('src', help='input checkpoint (.pth/.pt/.bin/.safetensors)')
    parser.add_argument('dst', help='output checkpoint')
    formats = ['auto', *FORMATS, *sorted(ALIASES)]
    parser.add_argument(
        '--src-format',
        '--src',
        default='auto',
        choices=formats,
        metavar='FORMAT',
        help=f'layout of the input: auto (default: detect from the keys), {", ".join(FORMATS)}',
    )
    parser.add_argument(
        '--dst-format',
        '--dst',
        default='auto',
        choices=['auto', *FORMATS, *PIVOTS[1:]],
        metavar='FORMAT',
        help='layout of the output (default auto: mmpretrain for classifiers, '
        'mmseg for segmentors)',
    )
    parser.add_argument(
        '--key',
        help='entry of the input file holding the weights '
        '(default: state_dict, model, ... or the file itself)',
    )
    parser.add_argument(
        '--export',
        action='store_true',
        help='SRC is a training checkpoint of this project (or any mmpretrain '
        'checkpoint): write its backbone.* and head.* weights with '
        "meta['mmdiverse'] for transfer",
    )
    parser.add_argument(
        '--no-head', action='store_true', help='with --export: keep backbone.* only'
    )
    parser.add_argument(
        '--check-config',
        help='build the model of this config and compare its keys and '
        'shapes with the converted weights (mmpretrain or mmseg output); a '
        'segmentor must match key for key',
    )
    parser.add_argument(
        '--allow-unmapped', action='store_true', help='exit 0 even if some keys could not be mapped'
    )
    parser.add_argument('--verbose', '-v', action='store_true', help='list every mapped key')
    return parser.parse_args(argv)


def check_against_config(state_dict_path, config):
    """Print how the converted weights fit the model of ``config``.

    Classifier configs: the backbone keys must be there with their shapes
    (a bias table or position embedding of another size is resized at load
    time). Segmentation configs (``default_scope='mmseg'``): every key of the
    model, backbone and heads, must be there with its shape and nothing more,
    as ``load_state_dict(strict=True)`` and mmseg's ``tools/test.py`` need.

    Returns the number of problems.
    """
    from mmengine.config import Config

    from mmdiverse.apis import build_model
    from mmdiverse.checkpoint import safe_load

    cfg = Config.fromfile(config)
    cfg.model.get('backbone', {}).pop('init_cfg', None)  # no checkpoint loading here
    segmentor = cfg.get('default_scope') == 'mmseg'
    model = build_model(cfg)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    weights = safe_load(state_dict_path, map_location='cpu')['state_dict']
    checked = (lambda k: True) if segmentor else (lambda k: k.startswith('backbone.'))
    missing = [k for k in expected if checked(k) and k not in weights]
    shape = [
        f'{k}: file {tuple(v.shape)} vs model {expected[k]}'
        for k, v in weights.items()
        if k in expected and tuple(v.shape) != expected[k] and checked(k)
    ]
    unused = [k for k in weights if checked(k) and k not in expected]
    resized = (
        []
        if segmentor
        else [s for s in shape if 'relative_position_bias_table' in s or 'pos_embed' in s]
    )
    scope = 'model' if segmentor else 'backbone'
    print(
        f'check against {config}: {len(expected)} model tensors; '
        f'{scope}: {len(missing)} missing, {len(unused)} unused, '
        f'{len(shape)} shape mismatches ({len(resized)} resized at load time)'
    )
    for title, keys in (('missing', missing), ('unused', unused), ('shape', shape)):
        for key in keys:
            print(f'  {title}: {key}')
    problems = len(missing) + len(shape) - len(resized) + (len(unused) if segmentor else 0)
    if not problems:
        print(f'the converted weights fit {config}' + (' key for key' if segmentor else ''))
    return problems


def main(argv=None):
    args = parse_args(argv)
    if args.export:
        meta = export_backbone(args.src, args.dst, keep_head=not args.no_head)
        print(f'exported {args.src} -> {args.dst}')
        print('meta[mmdiverse] = ' + json.dumps(meta, indent=2, default=str))
        problems = 0
    else:
        report = convert_checkpoint(
            args.src, args.dst, args.src_format, args.dst_format, key=args.key
        )
        print(report.summary(verbose=args.verbose))
        print(f'wrote {args.dst}')
        problems = 0 if args.allow_unmapped else len(report.unmapped)
    if args.check_config:
        if args.dst_format not in ('auto', *PIVOTS) and not args.export:
            sys.exit('--check-config needs mmpretrain or mmseg output')
        problems += check_against_config(args.dst, args.check_config)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
