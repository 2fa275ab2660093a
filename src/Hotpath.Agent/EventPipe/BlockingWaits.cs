using System.Runtime.InteropServices;

namespace Hotpath.Agent.EventPipe;

/// <summary>
/// A window's blocking waits, from their begin and end events: a task's synchronous wait (TPL's TaskWaitBegin and
/// TaskWaitEnd, its spinning too) and, outside one, a wait in the runtime (WaitHandleWaitStart and Stop). A task's
/// wait blocks in a wait handle once it stops spinning: that inner wait is part of it, not counted again. Each wait
/// is charged the part of it inside the window, so windows one after another add up: one still open at the window's
/// end counts to its last event; a handle's wait that began before the window counts from its first, at its end's
/// stack. A task's wait that began before it is seen only by the handle's wait inside it (TPL's TaskWaitEnd also
/// ends every await, so an end without its begin is not a blocking wait's).
/// </summary>
internal sealed class BlockingWaits
{
    private readonly Dictionary<long, Open> _open = [];
    private readonly List<Wait> _waits = [];
    private long _first = long.MaxValue, _last = long.MinValue;

    /// <summary>A wait: its thread, its stack (an index into the trace's stacks), when it began (or the window did) and its ticks.</summary>
    public readonly record struct Wait(long Thread, int Stack, long Since, long Ticks);

    /// <summary>A thread's waits in progress: the task's it is in, and a handle's outside one (-1: none).</summary>
    private record struct Open(long TaskSince, int TaskStack, long HandleSince, int HandleStack);

    /// <summary>Notes an event's time: the window's waits are clipped to the first and last.</summary>
    public void See(long timestamp)
    {
        _first = Math.Min(_first, timestamp);
        _last = Math.Max(_last, timestamp);
    }

    public void Begin(long thread, long timestamp, int stack, bool task)
    {
        ref var open = ref OpenOf(thread);
        if (task)
        {
            open.TaskSince = timestamp;
            open.TaskStack = stack;
            open.HandleSince = -1; // a handle's wait the thread was in is now part of the task's
        }
        else if (open.TaskSince < 0)
        {
            open.HandleSince = timestamp;
            open.HandleStack = stack;
        }
    }

    public void End(long thread, long timestamp, int stack, bool task)
    {
        ref var open = ref OpenOf(thread);
        if (task)
        {
            if (open.TaskSince >= 0)
                Add(thread, open.TaskStack, open.TaskSince, timestamp);
            open.TaskSince = -1;
        }
        else if (open.TaskSince < 0)
        {
            if (open.HandleSince >= 0)
                Add(thread, open.HandleStack, open.HandleSince, timestamp);
            else
                Add(thread, stack, _first, timestamp);
            open.HandleSince = -1;
        }
    }

    private ref Open OpenOf(long thread)
    {
        ref var open = ref CollectionsMarshal.GetValueRefOrAddDefault(_open, thread, out var existed);
        if (!existed)
            open = new Open(-1, -1, -1, -1);
        return ref open;
    }

    /// <summary>The waits, those still open charged to the window's last event.</summary>
    public IReadOnlyList<Wait> Build()
    {
        foreach (var (thread, open) in _open)
        {
            if (open.TaskSince >= 0)
                Add(thread, open.TaskStack, open.TaskSince, _last);
            else if (open.HandleSince >= 0)
                Add(thread, open.HandleStack, open.HandleSince, _last);
        }

        _open.Clear();
        return _waits;
    }

    private void Add(long thread, int stack, long since, long until)
    {
        if (stack >= 0)
            _waits.Add(new Wait(thread, stack, since, Math.Max(0, until - since)));
    }
}
