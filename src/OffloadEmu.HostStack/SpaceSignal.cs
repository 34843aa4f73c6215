using System.Threading.Tasks.Sources;

namespace OffloadEmu.HostStack;

/// <summary>A reusable wake-up for the one writer waiting for send-buffer space (allocates nothing per wait).</summary>
internal sealed class SpaceSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core;

    public SpaceSignal(bool asyncContinuations) => _core.RunContinuationsAsynchronously = asyncContinuations;

    /// <summary>Arms the signal; the caller awaits the returned task.</summary>
    public ValueTask Arm()
    {
        _core.Reset();
        return new ValueTask(this, _core.Version);
    }

    public void Set() => _core.SetResult(true);

    public void Fail(Exception error) => _core.SetException(error);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
