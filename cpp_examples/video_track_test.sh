#!/usr/bin/env bash
# ctest's video_track checks: makes the test video with ffmpeg from the bundled photo (the motion is
# video_track's TestMotion: a full turn, zooming 0.7x..1.3x and moving, 480x360, 120 frames), then
# follows the face through it from a box on the first frame only and checks every frame against the
# known motion.
#   BITS 8 (video_track):        H.264 yuv420p, decoded to AV_PIX_FMT_YUV420P -> LM_PIXEL_FORMAT_I420
#   BITS 10 (video_track_10bit): HEVC Main10 (libx265) yuv420p10le, decoded to AV_PIX_FMT_YUV420P10LE
#                                -> LM_PIXEL_FORMAT_I010 (ffprobe and --expect-pix-fmt check that)
#   video_track_test.sh VIDEO_TRACK FFMPEG PHOTO OUT_DIR MAX_NME_PCT [BITS [FFPROBE]]
set -euo pipefail
prog=$1 ffmpeg=$2 photo=$3 out=$4 max_nme=$5 bits=${6:-8} ffprobe=${7:-ffprobe}
mkdir -p "$out"
read -r frames fps filter < <("$prog" --print-recipe "$bits")
if [ "$bits" = 10 ]; then
  video="$out/astronaut_turn_10bit.mp4" pix_fmt=yuv420p10le sheet="$out/contact_sheet_10bit.png"
  best_chip="$out/best_chip_10bit.png"
  codec=(-c:v libx265 -preset medium -crf 18 -x265-params log-level=error -pix_fmt yuv420p10le)
  # The upright-crop comparison is only printed, never checked: left out here, so this test (run
  # plain and under ASan) costs 120 inferences rather than 240.
  extra=()
else
  video="$out/astronaut_turn.mp4" pix_fmt=yuv420p sheet="$out/contact_sheet.png"
  best_chip="$out/best_chip.png"
  codec=(-c:v libx264 -preset medium -crf 18 -pix_fmt yuv420p)
  extra=(--compare-upright)
fi
# Made once per build folder (geq takes ~30 s), again whenever the recipe or the encoder changes.
recipe="$frames $fps $filter ${codec[*]}"
if [ ! -s "$video" ] || [ "$(cat "$video.recipe" 2>/dev/null)" != "$recipe" ]; then
  "$ffmpeg" -hide_banner -loglevel error -y -loop 1 -framerate "$fps" -i "$photo" -vf "$filter" \
    -frames:v "$frames" "${codec[@]}" "$video"
  printf '%s' "$recipe" >"$video.recipe"
fi
if [ "$bits" = 10 ]; then
  probed=$("$ffprobe" -v error -select_streams v:0 -show_entries stream=codec_name,profile,pix_fmt -of csv=p=0 "$video")
  echo "ffprobe: $probed"
  [ "$probed" = "hevc,Main 10,yuv420p10le" ] || { echo "FAIL: the 10-bit test video is not HEVC Main 10 yuv420p10le"; exit 1; }
fi
# Frame 0 is the photo shifted by (240, 180) - anchor: the detector box of tests/data/crop.json
# (177.2828 80.559 271.8469 175.1234) moved by (15.43515, 52.1588).
"$prog" "$video" --box 192.71795 132.7178 287.28205 227.2822 --check-turn --max-nme "$max_nme" \
  --min-score 0.9 --expect-pix-fmt "$pix_fmt" ${extra[@]+"${extra[@]}"} --sheet "$sheet" --every 15 --shrink 2 \
  --columns 4 --sheet-bits 5 --best-chip "$best_chip"
# The track's best shot (quality.overall) as its aligned 112x112 chip, written as a PNG.
[ "$(head -c 8 "$best_chip" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
  { echo "FAIL: $best_chip is not a PNG"; exit 1; }
