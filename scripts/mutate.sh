#!/bin/bash
# SPDX-License-Identifier: MIT
# Mutation run: does the suite fail when the code is wrong? Each mutant is one edit (a Perl substitution that must
# match exactly once) to a copy of HEAD's tree in a scratch folder; the copy is rebuilt incrementally and the tests
# named for the mutant run (ctest -R, never bench_quick); then the edit is undone. A mutant is killed when at least
# one test fails (ctest stops at the first failure). The report (markdown) names the test that failed for each.
# Your checkout is never touched.
#
# Usage: scripts/mutate.sh [-o REPORT.md] [-k SCRATCH] [-B] [NAME_REGEX]
#   -B          skip the baseline run of the unmutated tree (when the suite was just run on the same HEAD)
#   -t REGEX    run these tests for every mutant instead of its own list (e.g. '^(test_oracles)$': does the
#               oracle alone catch each fault?)
#   NAME_REGEX  run only the mutants whose name matches (default: all)
#   -k SCRATCH  the scratch folder (default: a new one under /tmp; kept for a second run, which rebuilds less)
# Not part of CI: a full run rebuilds the library ~20 times and runs the SciPy elastic check (~2 min) once.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
report=""
scratch=""
baseline=1
override=""
while getopts "o:k:Bt:" opt; do
    case $opt in
    t) override=$OPTARG ;;
    o) report=$OPTARG ;;
    k) scratch=$OPTARG ;;
    B) baseline=0 ;;
    *) sed -n 3,15p "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
only=${1:-.}

# name # file # Perl substitution (must match once) # ctest regex of the tests to run # what the fault is
mutants=$(cat << 'EOF'
trilinear-border#kernels/resample.cl#s/x0 \+ 1 < nx && y0 \+ 1 < ny/x0 + 1 <= nx \&\& y0 + 1 < ny/#^(test_oracles|test_resample)$#interior fast path of the trilinear GPU form also taken on the last column (reads past the edge)
rotation-sign#src/ops_spatial.c#s/R\[a\]\[a\] = c; R\[a\]\[b\] = s;\n(\s*)R\[b\]\[a\] = -s;/R[a][a] = c; R[a][b] = -s;\n$1R[b][a] = s;/#^(test_oracles|test_spatial_ops)$#rotation turns the other way (SciPy's sign flipped)
rotation-centre#src/ops_spatial.c#s/return 0\.5 \* \(double\)\(n - 1\);/return 0.5 * (double)n;/#^(test_oracles|test_spatial_ops)$#centre n/2 instead of (n-1)/2
nearest-shared-header#kernels/resample_coord.h#s/return t - \(\(float\)t > q \? 1 : 0\);/return t;/#^(test_oracles|test_resample|test_resample_gpu_forms)$#vxa_resample_round truncates instead of floor (wrong below zero), reference and GPU form
nearest-cpu-form#kernels/resample.cl#s/rs_floor8\(px \+ 0\.5f\)/rs_floor8(px + 0.49f)/#^(test_oracles|test_resample)$#CPU form's order 0 rounds ties down on axis 0
percentile-interpolation#src/reference/reduce.c#s/return t >= 0\.5 \? b - d \* \(1\.0 - t\) : a \+ d \* t;/return t >= 0.5 ? b : a;/#^(test_oracles|test_reduce)$#percentiles: nearest rank instead of linear interpolation (both paths)
percentile-index#src/reference/reduce.c#s/const double h = \(double\)\(n - 1\) \* \(q \/ 100\.0\);/const double h = (double)n * (q \/ 100.0);/#^(test_oracles|test_reduce)$#percentiles: index n*q/100 instead of (n-1)*q/100 (both paths)
gauss-truncate-3-elastic#src/ops_elastic.c#s/st = vxa_gauss_smooth\(ctx, field, plan->sigma, VXA_MODE_CONSTANT, 4\.0\);/st = vxa_gauss_smooth(ctx, field, plan->sigma, VXA_MODE_CONSTANT, 3.0);/#^(scipy_check_elastic)$#exact elastic field smoothed with truncate 3 instead of 4 (run against the SciPy elastic check alone)
gauss-radius-shared#src/reference/smooth.c#s/return \(int64_t\)\(truncate \* sigma \+ 0\.5\);/return (int64_t)(truncate * sigma);/#^(test_oracles|test_smooth)$#Gaussian radius int(truncate*sigma) without the +0.5 (both paths)
fast-block-doubled#src/ops_elastic.c#s/int64_t s = \(int64_t\)floor\(3\.0 \* sigma \/ 8\.0\);/int64_t s = (int64_t)floor(3.0 * sigma \/ 4.0);/#^(test_elastic)$#fast elastic blocks of 3 sigma/4 instead of 3 sigma/8 (run against test_elastic alone: its statistics test)
philox-key-constant#src/shared/philox.h#s/k0 \+= 0x9E3779B9u;/k0 += 0x9E3779BBu;/#^(test_philox)$#Philox key schedule constant off by 2 (both paths: only a known-answer test or SciPy sees it)
uniform-mapping#src/shared/philox.h#s/\* 1\.1920928955078125e-7f - 1\.0f;/* 1.1920928955078125e-7f - 0.9990234375f;/#^(test_philox)$#elastic noise on [-0.999, 1.001) instead of [-1, 1)
zoom-formula#src/ops_spatial.c#s/A\[a\]\[a\] = 1\.0 \/ z;  \/\* p = \(o - c\)\/z \+ c \*\//A[a][a] = z;  \/* p = (o - c)\/z + c *\//#^(test_oracles|test_spatial_ops)$#zoom pulls with z instead of 1/z
resize-offset#src/ops_spatial.c#s/b\[a\] = 0\.5 \* r - 0\.5;/b[a] = 0.5 * r;/#^(test_oracles|test_spatial_ops)$#resize without the -0.5 (fields of view shifted by half a voxel)
flip-last-index#src/ops_spatial.c#s/b\[a\] = \(double\)\(in->dim\[a\] - 1\);/b[a] = (double)in->dim[a];/#^(test_oracles|test_spatial_ops|test_copy)$#flip maps o to n - o instead of n - 1 - o
compose-offset#src/transform.c#s/bn\[r\] \+= A1\[r\]\[c\] \* b2\[c\];/bn[r] += A2[r][c] * b2[c];/#^(test_oracles|test_spatial_ops)$#planner: composed offset uses the second map's matrix (chains resampled once go wrong)
cli-seed-sample-swapped#src/cli/cmd_apply.c#s/a\[2\] == 's' && a\[3\] == 'e' \? &seed : &sample/a[2] == 's' \&\& a[3] == 'a' ? \&seed : \&sample/#^(cli_augment|cli_apply_errors)$#voxaug apply: --seed sets the sample index and --sample the seed
blur-truncate-3#src/ops_intensity.c#s/return vxa_gauss_smooth\(ctx, vol, op->sigma, VXA_MODE_NEAREST, 4\.0\);/return vxa_gauss_smooth(ctx, vol, op->sigma, VXA_MODE_NEAREST, 3.0);/#^(test_oracles)$#blur's Gaussian truncated at 3 sigma instead of 4 (the shared smoothing code's caller)
elastic-alpha-rms#src/ops_elastic.c#s/plan->alpha\[c\] = val->v\[P_RMS\]\[0\] \/ sqrt\(3\.0\) \/ g->spacing\[c\] \/ unit;/plan->alpha[c] = val->v[P_RMS][0] \/ g->spacing[c] \/ unit;/#^(test_elastic)$#elastic rms: each component rms instead of rms/sqrt(3)
EOF
)

head=$(git -C "$here" rev-parse --short HEAD)
root=${scratch:-$(mktemp -d /tmp/voxaug-mutate.XXXXXX)}
mkdir -p "$root"
src="$root/src"
if [ ! -d "$src" ]; then
    mkdir -p "$src"
    git -C "$here" archive HEAD | tar -x -C "$src"
    echo "$head" > "$root/HEAD"
fi
head=$(cat "$root/HEAD" 2> /dev/null || echo "$head")   # a kept scratch folder holds the tree it was made from
echo "scratch: $root (HEAD $head)"
build="$root/build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$root/cmake.log" 2>&1 ||
        { cat "$root/cmake.log"; exit 1; }
fi
cmake --build "$build" -j2 > "$root/build.log" 2>&1 || { tail -30 "$root/build.log"; exit 1; }

# The build targets a test regex needs: test_x (and test_x_gpu_forms) -> test_x; the CLI and the tools otherwise.
targets_of() {
    printf '%s\n' "$1" | sed 's/^\^(//; s/)\$$//' | tr '|' '\n' | sed 's/_gpu_forms$//' |
        sed -E 's/^(scipy_|cli_).*/voxaug_cli vxa_pipeline_api vxa_smooth_tool/' | tr ' ' '\n' | sort -u | paste -sd' '
}

# The unmutated tree must pass every test a mutant uses (else a "kill" means nothing); -B skips this where the
# whole suite was just run on the same HEAD.
all_tests=$(printf '%s\n' "$mutants" | awk -F'#' '{print $4}' | sed 's/^\^(//; s/)\$$//' | tr '|' '\n' | sort -u |
            paste -sd'|')
if [ "$baseline" = 1 ]; then
    echo "baseline: ctest -R '^($all_tests)\$'"
    (cd "$build" && VOXAUG_REQUIRE_DEVICE=1 ctest -j2 -R "^($all_tests)\$" > "$root/baseline.log" 2>&1) ||
        { grep -E "Failed|\*\*\*" "$root/baseline.log"; echo "the unmutated tree fails: no mutation run"; exit 1; }
else
    echo "baseline skipped (-B): run the suite on HEAD $head by hand"
fi

out=$(mktemp)
printf '| mutant | file | fault | tests run | killed by | verdict |\n|---|---|---|---|---|---|\n' > "$out"
killed=0
total=0
while IFS='#' read -r name file sub tests what; do
    [ -z "$name" ] && continue
    [ -n "$override" ] && tests=$override
    printf '%s\n' "$name" | grep -Eq -- "$only" || continue
    total=$((total + 1))
    cp "$src/$file" "$root/orig"
    if ! perl -0pi -e "\$n = ($sub); END { exit(\$n == 1 ? 0 : 3) }" "$src/$file"; then
        cp "$root/orig" "$src/$file"
        echo "$name: the edit did not match exactly once in $file"
        printf '| %s | %s | %s | %s | - | EDIT DID NOT APPLY |\n' "$name" "$file" "$what" "$tests" >> "$out"
        continue
    fi
    start=$(date +%s)
    # shellcheck disable=SC2046
    if ! cmake --build "$build" -j2 --target $(targets_of "$tests") > "$root/build_$name.log" 2>&1; then
        verdict="killed (build fails)"
        by="the build"
    else
        (cd "$build" && VOXAUG_REQUIRE_DEVICE=1 ctest -j2 --stop-on-failure -R "$tests" > "$root/ctest_$name.log" 2>&1)
        # a timeout proves nothing (a loaded machine): it is reported, not counted as a kill
        by=$(grep -E "^[[:space:]]*[0-9]+ - .* \((Failed|SEGFAULT|Subprocess)" "$root/ctest_$name.log" |
             sed -E "s/^[[:space:]]*[0-9]+ - ([^ ]+) .*/\\1/" | paste -sd' ' | sed 's/ /, /g')
        slow=$(grep -E "^[[:space:]]*[0-9]+ - .* \(Timeout" "$root/ctest_$name.log" |
               sed -E "s/^[[:space:]]*[0-9]+ - ([^ ]+) .*/\\1/" | paste -sd' ')
        if [ -n "$by" ]; then verdict="killed"
        elif [ -n "$slow" ]; then verdict="TIMEOUT ($slow): inconclusive"; by="-"
        else verdict="SURVIVED"; by="-"; fi
    fi
    cp "$root/orig" "$src/$file"
    case $verdict in killed*) killed=$((killed + 1)) ;; esac
    echo "$name: $verdict by $by ($(( $(date +%s) - start )) s)"
    printf '| %s | %s | %s | `%s` | %s | %s |\n' "$name" "$file" "$what" "$tests" "$by" "$verdict" >> "$out"
done <<< "$mutants"
# leave the scratch build unmutated for the next run
cmake --build "$build" -j2 > "$root/build.log" 2>&1
echo "$killed of $total mutants killed"
echo "" >> "$out"
echo "$killed of $total mutants killed (HEAD $head, $(date -u '+%Y-%m-%d %H:%M UTC'))." >> "$out"
if [ -n "$report" ]; then cp "$out" "$report"; echo "report: $report"; else cat "$out"; fi
rm -f "$out"
[ "$killed" -eq "$total" ]
