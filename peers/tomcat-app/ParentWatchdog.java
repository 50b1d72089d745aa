package oxedge.testapp;

import jakarta.servlet.ServletContextEvent;
import jakarta.servlet.ServletContextListener;

/**
 * Ends the JVM when the Node process that launched it is gone. The launcher kills its JVMs on
 * a normal exit, but a test worker killed with SIGKILL runs no handlers, and a leftover
 * Tomcat would hold ports and CPU for every later run.
 */
public class ParentWatchdog implements ServletContextListener {
    private Thread thread;

    @Override
    public void contextInitialized(ServletContextEvent sce) {
        String pid = System.getProperty("oxedge.parentPid");
        if (pid == null || pid.isEmpty()) {
            return;
        }
        long parentPid = Long.parseLong(pid);
        // Our parent changes the moment the launcher dies (we get re-parented), even while the
        // dead launcher is still an unreaped zombie that isAlive() reports as running. Fall back
        // to isAlive() if something (a wrapper script) sits between the launcher and us.
        boolean direct = isParent(parentPid);
        thread = new Thread(() -> {
            while (true) {
                boolean gone = direct
                        ? !isParent(parentPid)
                        : ProcessHandle.of(parentPid).map(h -> !h.isAlive()).orElse(true);
                if (gone) {
                    System.err.println("oxedge: launcher process " + parentPid + " is gone, halting");
                    // halt, not exit: a graceful stop could wait on request threads forever.
                    Runtime.getRuntime().halt(3);
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "oxedge-parent-watchdog");
        thread.setDaemon(true);
        thread.start();
    }

    private static boolean isParent(long pid) {
        return ProcessHandle.current().parent().map(p -> p.pid() == pid).orElse(false);
    }

    @Override
    public void contextDestroyed(ServletContextEvent sce) {
        // Tomcat warns about (and would leak) a webapp thread that outlives a graceful stop.
        if (thread != null) {
            thread.interrupt();
        }
    }
}
