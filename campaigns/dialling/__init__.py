"""The dialler, from a due contact to what its call meant.

- `dispatch`: every second, claim due contacts (and due scheduled callbacks) of running
  campaigns and queue their sessions for placement (`sessions.carrier.placement`);
- `gate`: the dial gate placement asks right before dialling (`settings.DIAL_GATE`);
- `pacing`: the calls-per-second budgets both of them spend;
- `outcomes`: what a finished call means for its contact and campaign (`session_finished`);
- `callbacks`: calls back a person asked for, scheduled through the API or the admin;
- `rules`: how a finished session reads to a campaign (an attempt or not, which outcome).
"""
