using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using OffloadEmu.HostStack;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// Moves one connection's bytes as its <see cref="TransferPlan"/> says: a sender (pattern or file, then a graceful
/// shutdown) and a receiver (drain, verify or echo, until the peer's FIN) run together; every
/// <see cref="TransferPlan.UploadEvery"/> bytes an offloaded connection is uploaded and offloaded again. The
/// connection is closed at the end.
/// </summary>
internal sealed class Transfer
{
    // One read or write of the application: a read's size is the receive post the host stack hands the target, so a
    // larger one means fewer post completions per byte.
    private const int BufferSize = 256 * 1024;
    private readonly OffloadSocket _socket;
    private readonly TransferPlan _plan;
    private readonly TransferMeter _meter;
    private readonly IncrementalHash? _sentHash;
    private readonly IncrementalHash? _receivedHash;
    private readonly Lock _cycleLock = new();
    private long _nextCycleAt;
    private long _firstMismatch = -1;
    private int _cycleRefusals;

    public Transfer(OffloadSocket socket, TransferPlan plan, TransferMeter meter)
    {
        _socket = socket;
        _plan = plan;
        _meter = meter;
        _nextCycleAt = plan.UploadEvery;
        if (plan.Receive == ReceiveMode.Verify) _sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (plan.Receive is ReceiveMode.Verify or ReceiveMode.Check) _receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    }

    /// <summary>Runs both directions to the end and closes the connection.</summary>
    public async Task<TransferOutcome> RunAsync()
    {
        var send = _plan.Sends ? SendAsync() : Task.CompletedTask;
        var receive = ReceiveAsync();
        await Task.WhenAll(send, receive).ConfigureAwait(false);
        await _socket.CloseAsync().ConfigureAwait(false);
        // The close completes when our FIN is acknowledged; the release terminate of an offloaded connection follows.
        // Give it a moment so the target is not stopped under it. Once it has left the target it is done for us: an end
        // that closed first stays in host-mode TIME-WAIT for 2MSL (docs/hoststack.md), which nobody needs to wait for.
        for (int i = 0; i < 200 && _socket.Location is not (ConnectionLocation.Closed or ConnectionLocation.Host); i++)
            await Task.Delay(10).ConfigureAwait(false);
        if (_plan.Receive == ReceiveMode.Check)
        {
            string hash = Convert.ToHexString(_receivedHash!.GetHashAndReset());
            string? wrong = _firstMismatch >= 0 ? $"pattern mismatch: byte {_firstMismatch} differs from the pattern"
                : _cycleRefusals > 0 ? $"the target refused {_cycleRefusals} re-offloads" : null;
            return new TransferOutcome(wrong, _firstMismatch < 0, null, hash);
        }
        if (_plan.Receive != ReceiveMode.Verify)
            return new TransferOutcome(_cycleRefusals > 0 ? $"the target refused {_cycleRefusals} re-offloads" : null, null, null, null);
        string sent = Convert.ToHexString(_sentHash!.GetHashAndReset());
        string received = Convert.ToHexString(_receivedHash!.GetHashAndReset());
        bool ok = sent == received && _meter.BytesSent == _meter.BytesReceived && _firstMismatch < 0;
        string? error = null;
        if (_firstMismatch >= 0) error = $"echo mismatch: byte {_firstMismatch} differs from what was sent";
        else if (_meter.BytesReceived != _meter.BytesSent) error = $"echo mismatch: sent {_meter.BytesSent} bytes, received {_meter.BytesReceived}";
        else if (!ok) error = $"echo mismatch: SHA-256 sent {sent}, received {received}";
        else if (_cycleRefusals > 0) error = $"the target refused {_cycleRefusals} re-offloads";
        return new TransferOutcome(error, ok, sent, received);
    }

    private async Task SendAsync()
    {
        var buffer = new byte[BufferSize];
        var pattern = new Pattern();
        await using var file = _plan.SendFile is { } path ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true) : null;
        long remaining = _plan.SendBytes;
        while (true)
        {
            int n;
            if (file is not null)
            {
                n = await file.ReadAsync(buffer).ConfigureAwait(false);
            }
            else
            {
                n = (int)Math.Min(remaining, buffer.Length);
                pattern.Fill(buffer.AsSpan(0, n));
                remaining -= n;
            }
            if (n == 0) break;
            _sentHash?.AppendData(buffer, 0, n);
            await _socket.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
            _meter.AddSent(n);
            _meter.NoteLocation();
            // No hand-over after the last byte of a pattern: the close follows.
            bool last = file is null && remaining == 0;
            if (!_plan.CycleOnReceived && !last) await MaybeCycleAsync(_meter.BytesSent).ConfigureAwait(false);
        }
        await _socket.ShutdownAsync().ConfigureAwait(false);
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[BufferSize];
        var expected = _plan.SendFile is null ? new Pattern() : null;
        while (true)
        {
            int n = await _socket.ReadAsync(buffer).ConfigureAwait(false);
            if (n == 0) break;
            _meter.AddReceived(n);
            _meter.NoteLocation();
            switch (_plan.Receive)
            {
                case ReceiveMode.Verify or ReceiveMode.Check:
                    _receivedHash!.AppendData(buffer, 0, n);
                    if (expected is not null && _firstMismatch < 0)
                    {
                        long at = expected.Check(buffer.AsSpan(0, n));
                        if (at >= 0) _firstMismatch = at;
                    }
                    break;
                case ReceiveMode.Echo:
                    await _socket.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                    _meter.AddSent(n);
                    break;
            }
            if (_plan.CycleOnReceived) await MaybeCycleAsync(_meter.BytesReceived).ConfigureAwait(false);
        }
        // The peer finished: an echo server or a sink closes its half now (a sender shuts down after its last byte).
        if (!_plan.Sends) await _socket.ShutdownAsync().ConfigureAwait(false);
    }

    private async Task MaybeCycleAsync(long moved)
    {
        if (_plan.UploadEvery <= 0) return;
        lock (_cycleLock)
        {
            if (moved < _nextCycleAt) return;
            while (moved >= _nextCycleAt) _nextCycleAt += _plan.UploadEvery;
        }
        // An initiate still in progress (the first megabytes can be written before the immediate offload completes) is
        // waited for, briefly, so the cycle is not skipped.
        for (int i = 0; i < 200 && _socket.Location == ConnectionLocation.Offloading; i++) await Task.Delay(5).ConfigureAwait(false);
        // Only a connection on the target is handed over; one still in host mode (after:N not reached, an initiate
        // that failed) is left to the policy.
        if (_socket.Location != ConnectionLocation.Offloaded) return;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        await _socket.UploadAsync().ConfigureAwait(false);
        bool again = await _socket.OffloadAsync().ConfigureAwait(false);
        _meter.AddCycle(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        if (!again) _cycleRefusals++;
    }

    /// <summary>One line for an exception that ended a transfer or a connect.</summary>
    public static string Describe(Exception ex, string peer, TransferMeter? meter)
    {
        string after = meter is null ? "" : string.Create(CultureInfo.InvariantCulture, $" after {meter.BytesSent} bytes sent, {meter.BytesReceived} received");
        return ex switch
        {
            SocketException { SocketErrorCode: SocketError.ConnectionReset } or IOException => $"connection to {peer} reset{after} ({ex.Message.TrimEnd('.')})",
            SocketException { SocketErrorCode: SocketError.ConnectionRefused } => $"connection refused by {peer}",
            SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } => $"local port already in use for {peer}",
            SocketException se => $"{peer}: {se.SocketErrorCode}{after}",
            FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => $"--send: {ex.Message}",
            _ => $"{ex.GetType().Name}: {ex.Message}{after}",
        };
    }
}
