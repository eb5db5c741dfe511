import java.beans.BeanInfo;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.util.TreeSet;

/**
 * Prints the properties a MultiLangDaemon's configuration bean accepts, one "name Type" per line,
 * sorted: what the daemon's commons-beanutils can set from a properties file. Run with the KCL jars on
 * the class path; the end-to-end suite compares it with what check-properties knows.
 */
public final class KclKeys {
    public static void main(String[] args) throws Exception {
        Class<?> c = Class.forName("software.amazon.kinesis.multilang.config.MultiLangDaemonConfiguration");
        TreeSet<String> out = new TreeSet<>();
        BeanInfo info = Introspector.getBeanInfo(c);
        for (PropertyDescriptor p : info.getPropertyDescriptors()) {
            if (p.getWriteMethod() != null) out.add(p.getName() + " " + p.getPropertyType().getSimpleName());
        }
        for (String s : out) System.out.println(s);
    }
}
