"""The page ``panel serve`` runs for each session: the dashboard built from the options after ``--args``.

Run by ``climax-nb dashboard``; also usable directly:
``panel serve climax_nb/dashboard/pages/dashboard.py --args --checkpoint run/model.pt``.
"""

import sys

from climax_nb.dashboard.serve import page_from_argv

page_from_argv(sys.argv[1:]).servable(title="climax_nb dashboard")
