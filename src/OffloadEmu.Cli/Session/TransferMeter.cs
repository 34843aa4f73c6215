using System.Diagnostics;
using OffloadEmu.HostStack;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// Live figures of one connection, written by the transfer loops and read by the progress line: bytes each way,
/// hand-overs asked for, and time spent in each <see cref="ConnectionLocation"/> (sampled, so a hand-over shorter than
/// the sampling interval may not show).
/// </summary>
internal sealed class TransferMeter
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly double[] _secondsIn = new double[Enum.GetValues<ConnectionLocation>().Length];
    private readonly Lock _lock = new();
    private long _sent, _received;
    private double _lastSample;
    private double? _stoppedAt;

    /// <summary>The connection being measured (set once connected).</summary>
    public OffloadSocket? Socket { get; set; }

    public long BytesSent => Interlocked.Read(ref _sent);

    public long BytesReceived => Interlocked.Read(ref _received);

    /// <summary>Seconds from the start of the transfer (frozen by <see cref="Stop"/>).</summary>
    public double Elapsed => _stoppedAt ?? _clock.Elapsed.TotalSeconds;

    /// <summary>Where the connection lived (host or offloaded) when it last moved data.</summary>
    public ConnectionLocation? LocationAtEnd { get; private set; }

    /// <summary>Notes where <see cref="Socket"/> lives as data moves; the hand-over states and the release at the end
    /// (bytes of the last segments are often read while the closed connection is being terminated) are not noted.</summary>
    public void NoteLocation()
    {
        if (Socket?.Location is { } l && l is ConnectionLocation.Host or ConnectionLocation.Offloaded) LocationAtEnd = l;
    }

    /// <summary>Set once the connection's summary is out.</summary>
    public bool Finished { get; set; }

    /// <summary>Upload + re-offload cycles done for <c>--upload-every</c>.</summary>
    public int HandOverCycles { get; private set; }

    /// <summary>Time the cycles took, from the upload request to the re-offload's completion.</summary>
    public TimeSpan HandOverCycleTime { get; private set; }

    /// <summary>Counts one upload + re-offload cycle that took <paramref name="took"/>.</summary>
    public void AddCycle(TimeSpan took)
    {
        HandOverCycleTime += took;
        HandOverCycles++;
    }

    public void AddSent(int n) => Interlocked.Add(ref _sent, n);

    public void AddReceived(int n) => Interlocked.Add(ref _received, n);

    /// <summary>Restarts the clock (the transfer starts once the connection is up).</summary>
    public void Restart()
    {
        lock (_lock)
        {
            _clock.Restart();
            _lastSample = 0;
            Array.Clear(_secondsIn);
        }
    }

    /// <summary>Charges the time since the previous sample to the connection's current location.</summary>
    public void Sample()
    {
        lock (_lock)
        {
            if (_stoppedAt is not null) return;
            double now = _clock.Elapsed.TotalSeconds;
            if (Socket is { } s) _secondsIn[(int)s.Location] += now - _lastSample;
            _lastSample = now;
        }
    }

    /// <summary>Takes the last sample and freezes <see cref="Elapsed"/>.</summary>
    public void Stop()
    {
        Sample();
        lock (_lock) _stoppedAt ??= _clock.Elapsed.TotalSeconds;
    }

    /// <summary>Seconds the connection spent in <paramref name="location"/>.</summary>
    public double SecondsIn(ConnectionLocation location)
    {
        lock (_lock) return _secondsIn[(int)location];
    }
}
