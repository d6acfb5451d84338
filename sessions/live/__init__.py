"""The live call over Twilio Media Streams.

`media_stream` speaks the protocol and admits one stream per session token (`stream`);
`consumer` runs the speech pipeline (`sessions.pipeline`) on it and stores what happens;
`conversation` opens and closes the session's conversation; `groups` and `monitor` carry the
call's events to the live monitor page (`monitor_page`); `routing` lists the websocket routes.
"""
