// An unchanged serial app for the pty tests: QSerialPort on the given path, echoes each
// line back as "echo:<line>", prints it, exits 0 on "quit" and 1 on any port error.
#include <QCoreApplication>
#include <QSerialPort>
#include <QTextStream>

#include <cstdio>

int main(int argc, char **argv)
{
	QCoreApplication app(argc, argv);
	if (argc != 2) {
		std::fprintf(stderr, "usage: qt_serial_echo PORT\n");
		return 2;
	}
	QSerialPort port;
	port.setPortName(QString::fromLocal8Bit(argv[1]));
	port.setBaudRate(QSerialPort::Baud115200);
	if (!port.open(QIODevice::ReadWrite)) {
		std::fprintf(stderr, "open: %s\n", qPrintable(port.errorString()));
		return 1;
	}
	QByteArray pending;
	QObject::connect(&port, &QSerialPort::errorOccurred, [&](QSerialPort::SerialPortError e) {
		if (e == QSerialPort::NoError || e == QSerialPort::TimeoutError)
			return;
		// What the pty must never cause: the app would see the recovery as an error.
		std::fprintf(stderr, "port error %d: %s\n", int(e), qPrintable(port.errorString()));
		app.exit(1);
	});
	QObject::connect(&port, &QSerialPort::readyRead, [&]() {
		pending += port.readAll();
		int nl;
		while ((nl = pending.indexOf('\n')) >= 0) {
			QByteArray line = pending.left(nl);
			pending.remove(0, nl + 1);
			if (line == "quit") {
				port.flush();
				app.exit(0);
				return;
			}
			port.write("echo:" + line + "\n");
			std::printf("%s\n", line.constData());
			std::fflush(stdout);
		}
	});
	std::printf("ready\n");
	std::fflush(stdout);
	return app.exec();
}
