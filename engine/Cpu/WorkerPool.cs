namespace Engine.Cpu;
// Stub until the cpu branch lands.
public static class WorkerPool { public static int Threads { get; set; } = Environment.ProcessorCount; }
