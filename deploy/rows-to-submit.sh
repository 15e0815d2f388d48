# Sourced by the submit scripts: sets `count` and `indices` to the rows of "$sample" not complete in
# "$out", from `clay status` (which reads the output only), and exits 0 when there is nothing to submit.
# Needs: $CLAY, $sample, $out. Exit 4 of `clay status` means "some rows are not complete": the case to submit.
set +e
status="$($CLAY status --sample "$sample" --out "$out" --json)"
code=$?
set -e
if [ "$code" -ne 0 ] && [ "$code" -ne 4 ]; then
  echo "submit: clay status failed (exit $code)" >&2
  exit "$code"
fi
read -r count indices < <(node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(s.resubmit.length, s.indices || "-")' <<<"$status")
if [ "$count" -eq 0 ]; then
  echo "submit: every row of $sample is complete in $out, nothing to submit" >&2
  exit 0
fi
