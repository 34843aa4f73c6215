namespace OffloadEmu.Chimney;

/// <summary>
/// A host-side component of the emulator itself, not user code, that may take some I/O completions and receive
/// indications on the target's engine thread: the control server's multiplexer, which only encodes them into a client
/// socket's queue and writes it without blocking (docs/control.md, "Threads and copies"). Set as a queue's
/// <see cref="CompletionQueue.EngineThreadHost"/>; host code proper (a host stack, an application) does not run there
/// through it (architecture §3, chimney spec §0; an in-process host runs there only with the embedded target's opt-in
/// inline completions, <see cref="CompletionQueue.AttachEngineThread"/>).
/// </summary>
/// <remarks>
/// At the end of each engine round the engine runs the queue's items itself, in order, while each is one this host
/// takes (the queue had no worker running, so nothing earlier is pending); the first item it refuses, and everything
/// after it, goes to the queue's worker as before. So the host sees every item in posting order, one at a time, on
/// whichever thread runs it. The answers must be cheap and must not block: they are asked on the engine thread.
/// </remarks>
public interface IEngineThreadHost
{
    /// <summary>True when the completion of <paramref name="chain"/> (send, receive, forward or disconnect) may run on the
    /// engine thread now.</summary>
    bool TakesIoCompletion(NetBufferList chain);

    /// <summary>True when a receive indication of <paramref name="length"/> bytes for the connection with host handle
    /// <paramref name="ndisOffloadHandle"/> may run on the engine thread now.</summary>
    bool TakesIndication(ulong ndisOffloadHandle, int length);
}
