// Process-level chores: systemd readiness notification and dropping root privileges.
#pragma once
#include <string>

namespace apexd::server {

/// Sends `state` ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=…") to $NOTIFY_SOCKET when it is
/// set (sd_notify(3) protocol: one datagram to a Unix socket; '@' means the abstract namespace).
/// Returns false when there is no socket or the send failed.
bool notify_systemd(const std::string& state);

/// "RELOADING=1" with the MONOTONIC_USEC field systemd wants for reload notifications.
std::string reloading_notification();

/// Switches to `user` (its uid, gid and supplementary groups). Throws std::runtime_error with the
/// reason when the user is unknown or the switch fails. A no-op when already running as `user`.
void drop_privileges(const std::string& user);

}  // namespace apexd::server
