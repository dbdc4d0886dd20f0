#!/usr/bin/env bash
# ctest's video_track check: makes the test video with ffmpeg from the bundled photo (the motion is
# video_track's TestMotion: a full turn, zooming 0.7x..1.3x and moving, 480x360 H.264 yuv420p, 4 s),
# then follows the face through it from a box on the first frame only and checks every frame
# against the known motion.
#   video_track_test.sh VIDEO_TRACK FFMPEG PHOTO OUT_DIR MAX_NME_PCT
set -euo pipefail
prog=$1 ffmpeg=$2 photo=$3 out=$4 max_nme=$5
mkdir -p "$out"
read -r frames fps filter < <("$prog" --print-recipe)
video="$out/astronaut_turn.mp4"
# Made once per build folder (geq takes ~30 s), again whenever the recipe changes.
if [ ! -s "$video" ] || [ "$(cat "$video.recipe" 2>/dev/null)" != "$frames $fps $filter" ]; then
  "$ffmpeg" -hide_banner -loglevel error -y -loop 1 -framerate "$fps" -i "$photo" -vf "$filter" \
    -frames:v "$frames" -c:v libx264 -preset medium -crf 18 -pix_fmt yuv420p "$video"
  printf '%s' "$frames $fps $filter" >"$video.recipe"
fi
# Frame 0 is the photo shifted by (240, 180) - anchor: the detector box of tests/data/crop.json
# (177.2828 80.559 271.8469 175.1234) moved by (15.43515, 52.1588).
"$prog" "$video" --box 192.71795 132.7178 287.28205 227.2822 --check-turn --max-nme "$max_nme" \
  --min-score 0.9 --compare-upright --sheet "$out/contact_sheet.png" --every 15 --shrink 2 --columns 4 --sheet-bits 5
