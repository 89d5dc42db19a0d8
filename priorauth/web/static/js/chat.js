// The provider chat: rasa-webchat (vendored by scripts/web.sh) on this page's own origin over socket.io.
// The widget escapes bot and user text (React, markdown without raw HTML); the page's CSP forbids inline scripts.
(function () {
  "use strict";
  var element = document.getElementById("webchat");
  if (!window.WebChat) {
    element.textContent = "The chat widget is not installed: run scripts/web.sh.";
    element.className = "webchat-missing";
    return;
  }
  window.WebChat.default(
    {
      socketUrl: window.location.origin,
      socketPath: "/socket.io/",
      initPayload: "/greet",
      title: "Prior authorization help",
      subtitle: "Answers from AIM and Anthem provider notices",
      inputTextFieldHint: "Ask about prior authorization…",
      connectingText: "Connecting…",
      // Same session id after a reload (local storage) and after a server restart (the widget reconnects).
      params: { storage: "local" },
      showFullScreenButton: true,
      // The typing indicator shows while a reply is held back, a little longer for longer replies.
      customMessageDelay: function (message) {
        return Math.min(1500, 400 + (message ? message.length : 0));
      },
    },
    element
  );
})();
