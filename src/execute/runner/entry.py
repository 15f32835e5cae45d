# The runner's entry point, baked at /opt/assay/runner.py. The runner itself
# (runner.py in assay's source) is baked beside it as assay_runner.py and
# compiled when the image is built: a script run directly is compiled anew at
# every start, and the runner starts several times per phase (itself, dbt's
# child, the query child).
import sys

import assay_runner

assay_runner.main(sys.argv)
