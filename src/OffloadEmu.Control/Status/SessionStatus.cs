namespace OffloadEmu.Control.Status;

/// <summary>A host session bound to the daemon's target through the control socket.</summary>
/// <param name="Id">The server's session id (also in the capture's control interface and the daemon's log).</param>
/// <param name="Name">The client name from its hello.</param>
/// <param name="Objects">Offloaded objects (neighbours, paths, connections) it owns now.</param>
public readonly record struct SessionStatus(ulong Id, string Name, int Objects);
