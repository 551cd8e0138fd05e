namespace Engine.Cpu;

// Stub until the cpu branch lands: runs loops inline, same signatures.
public static class WorkerPool
{
    public static int Threads { get; set; } = Environment.ProcessorCount;

    public static void For(int count, Action<int> body)
    {
        for (int i = 0; i < count; i++) body(i);
    }

    public static void For<TState>(int count, TState state, Action<int, TState> body)
    {
        for (int i = 0; i < count; i++) body(i, state);
    }
}
