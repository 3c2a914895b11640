"""Where a run's changes go besides stdout, one class a kind, as urlwatch's reporters are: an
output has a name (the key its pending changes are kept under), sends its digest of what it
has not had yet, and says what it would send (a dry run's preview). A new kind of output is one
class here, registered in ``KINDS``; the pipeline's deliver step loops over the outputs a run
has (pipeline/deliver.py)."""

from trialwatch.outputs.base import KINDS, Output, Preview, PreviewOutput
from trialwatch.outputs.channel import ChannelOutput
from trialwatch.outputs.mail import MailOutput

__all__ = ["KINDS", "ChannelOutput", "MailOutput", "Output", "Preview", "PreviewOutput"]
