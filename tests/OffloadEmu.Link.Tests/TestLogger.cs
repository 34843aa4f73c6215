using Microsoft.Extensions.Logging;

namespace OffloadEmu.Link.Tests;

/// <summary>Records log entries at or above <see cref="MinimumLevel"/>.</summary>
internal sealed class TestLogger : ILogger
{
    public LogLevel MinimumLevel { get; set; } = LogLevel.Trace;
    public List<(LogLevel level, EventId id, string message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= MinimumLevel;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) Entries.Add((logLevel, eventId, formatter(state, exception)));
    }
}
