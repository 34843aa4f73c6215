using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>Keeps every log line (timestamped) in memory, for a test to print the ones it needs when it fails.</summary>
internal sealed class LineLogger : ILogger
{
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();

    internal ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => Lines.Enqueue($"{System.Diagnostics.Stopwatch.GetElapsedTime(_start).TotalSeconds,8:F3} {eventId.Id} {formatter(state, exception)}");
}
